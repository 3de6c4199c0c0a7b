// One speed configuration, run in a process of its own (bitlearn __child speed JSON): prints the
// SpeedResult as JSON.
import { benchData, measureSpeed, type SpeedConfig } from './speed.js';

export async function speedChild(json: string): Promise<void> {
  const config = JSON.parse(json) as SpeedConfig;
  process.stdout.write(`${JSON.stringify(measureSpeed(config, benchData(config.model, config.batch)))}\n`);
}
