// One speed configuration in a process of its own (argument: the SpeedConfig as JSON); prints
// the SpeedResult as JSON.
import { benchData, measureSpeed, type SpeedConfig } from './speed.js';

const config = JSON.parse(process.argv[2] ?? '{}') as SpeedConfig;
process.stdout.write(JSON.stringify(measureSpeed(config, benchData(config.model, config.batch))) + '\n');
