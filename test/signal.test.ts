// bench --suite signal: class similarity through random sign+BN layers follows the arcsine law and
// fades with depth, through ReLU layers it stays (the reason binary MLPs show low coherence).
import t from 'tap';
import { runSignalSuite } from '../bench/signal.js';

t.test('same-class similarity: (2/π)·arcsin per sign+BN layer, kept by ReLU', async (t) => {
  const [sign, relu] = runSignalSuite({ examples: 300, depth: 3, width: 256 });
  t.equal(sign.layers, 'sign+bn');
  t.equal(sign.sameClass[0], relu.sameClass[0], 'same input');
  t.ok(sign.sameClass[0] > 0.15, `same-class MNIST examples are similar (${sign.sameClass[0]})`);
  for (let l = 1; l <= 3; l++) {
    const expected = (2 / Math.PI) * Math.asin(sign.sameClass[l - 1]);
    t.ok(Math.abs(sign.sameClass[l] - expected) < 0.02, `sign layer ${l}: ${sign.sameClass[l]} vs arcsine law ${expected}`);
  }
  t.ok(sign.sameClass[3] < 0.5 * sign.sameClass[0], 'fades with depth');
  t.ok(relu.sameClass[3] > 0.7 * relu.sameClass[0], 'ReLU keeps most of it');
  t.ok(Math.abs(sign.differentClass[3]) < Math.abs(sign.differentClass[0]), 'different classes stay near 0');
});
