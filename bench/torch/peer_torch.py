"""PyTorch contestant of `bitlearn bench --suite peers`: the same binary models trained the
ordinary way (float latent weights, sign with the clipped straight-through estimator, batch norm,
Adam), timed per training step. One JSON object on stdout:
{"msPerBatch": [...], "warmupMsTotal": ms, "peakRssBytes": N, "torch": version, "threads": N}.
Usage: python3 peer_torch.py '{"model": "mlp", "batch": 100, "threads": 1, "repeats": 20, "warmup": 3}'
"""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SignSTE(torch.autograd.Function):
    """sign(x) forward (sign(0) = +1); gradient passed where |x| <= 1 (clipped STE)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class BinaryLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, SignSTE.apply(self.weight))


class BinaryConv(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, SignSTE.apply(self.weight), None, self.stride, self.padding)


def block_dense(n_in, n_out, last=False):
    layers = [BinaryLinear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out)]
    return layers if last else layers + [Sign()]


class Sign(nn.Module):
    def forward(self, x):
        return SignSTE.apply(x)


def conv_net(channels, pool_after, dense, padding, pool_before_bn, side, c_in):
    layers = []
    h = side
    c = c_in
    for i, co in enumerate(channels):
        layers.append(BinaryConv(c, co, 3, padding=1 if padding == "same" else 0, bias=False))
        h = h if padding == "same" else h - 2
        pool = i in pool_after
        if pool and pool_before_bn:
            layers += [nn.MaxPool2d(2), nn.BatchNorm2d(co), Sign()]
        elif pool:
            layers += [nn.BatchNorm2d(co), Sign(), nn.MaxPool2d(2)]
        else:
            layers += [nn.BatchNorm2d(co), Sign()]
        if pool:
            h //= 2
        c = co
    layers.append(nn.Flatten())
    n = c * h * h
    for d in dense:
        layers += block_dense(n, d)
        n = d
    layers += block_dense(n, 10, last=True)
    return nn.Sequential(*layers)


def model(name):
    if name == "mlp":
        layers = [nn.Flatten()]
        n = 784
        for _ in range(4):
            layers += block_dense(n, 256)
            n = 256
        layers += block_dense(n, 10, last=True)
        return nn.Sequential(*layers), (1, 28, 28)
    if name == "cnv":
        return conv_net([64, 64, 128, 128, 256, 256], {1, 3}, [512, 512], "valid", False, 32, 3), (3, 32, 32)
    if name == "binarynet":
        return conv_net([128, 128, 256, 256, 512, 512], {1, 3, 5}, [1024, 1024], "same", True, 32, 3), (3, 32, 32)
    if name == "mnist-conv":
        return conv_net([32, 32, 64, 64], {1, 3}, [256], "valid", False, 28, 1), (1, 28, 28)
    raise SystemExit(f"peer_torch: unknown model {name}")


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg["threads"]))
    torch.manual_seed(1)
    net, shape = model(cfg["model"])
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = int(cfg["batch"])
    # inputs in [-1, 1] like bitlearn's scaled pixels; the step's cost does not depend on the values
    x = torch.rand((batch,) + shape) * 2 - 1
    y = torch.randint(0, 10, (batch,))
    times = []
    warmup_ms = 0.0
    for s in range(int(cfg["warmup"]) + int(cfg["repeats"])):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        with torch.no_grad():  # Larq's weight_clip: latent binary weights stay in [-1, 1]
            for m in net.modules():
                if isinstance(m, (BinaryLinear, BinaryConv)):
                    m.weight.clamp_(-1, 1)
        if s >= int(cfg["warmup"]):
            times.append((time.perf_counter() - t0) * 1000)
        else:
            warmup_ms += (time.perf_counter() - t0) * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"msPerBatch": times, "warmupMsTotal": warmup_ms, "peakRssBytes": rss, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
