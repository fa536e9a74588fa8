#!/usr/bin/env python3
"""Sums a kernel trace (hetero-train --kernel-trace-at, hetero-hf radio-bench
--kernel-trace: PyTorch profiler Chrome traces) by CUDA kernel: GPU time per
kernel name and per launching ATen op (the innermost op that launched it),
largest first, with the share of all GPU time. Copies and memsets count as
kernels named by their kind.

--by-shape adds a table by launching op and its input shapes (traces record
them), which tells apart the same op on different tensors.

--host adds the host side: per thread the time its ops span, and the ops'
self time (an op's duration less its child ops') by name, largest first,
with their counts; where the GPU idles between kernels this says which host
work holds it up. The profiler adds its own few microseconds to every op.

Usage: scripts/kernel_top.py TRACE.json [--top N] [--width CHARS] [--by-shape] [--host]
"""
import argparse
import collections
import json


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--width", type=int, default=110, help="kernel names are cut to this many characters")
    ap.add_argument("--by-shape", action="store_true", help="also sum by launching op and its input shapes")
    ap.add_argument("--host", action="store_true", help="also sum the host threads' op self time by op name")
    args = ap.parse_args()
    events = json.load(open(args.trace))["traceEvents"]
    op_of, shape_of = {}, {}  # External id -> the ATen op that launched under it, and its input shapes
    for e in events:
        if e.get("cat") == "cpu_op" and "External id" in e.get("args", {}):
            op_of[e["args"]["External id"]] = e["name"]
            dims = e["args"].get("Input Dims")
            if dims is not None:
                shape_of[e["args"]["External id"]] = " ".join("x".join(map(str, d)) for d in dims if d)
    by_kernel, by_op, by_shape = collections.Counter(), collections.Counter(), collections.Counter()
    count = collections.Counter()
    first, last = float("inf"), 0.0
    for e in events:
        if e.get("cat") not in ("kernel", "gpu_memcpy", "gpu_memset") or "dur" not in e:
            continue
        name = e["name"] if e["cat"] == "kernel" else e["cat"]
        by_kernel[name] += e["dur"]
        count[name] += 1
        ext = e.get("args", {}).get("External id")
        by_op[op_of.get(ext, "(no op)")] += e["dur"]
        by_shape[f'{op_of.get(ext, "(no op)")} [{shape_of.get(ext, "")}]'] += e["dur"]
        first, last = min(first, e["ts"]), max(last, e["ts"] + e["dur"])
    total = sum(by_kernel.values())
    if total == 0:
        raise SystemExit(f"{args.trace}: no GPU kernels in the trace")
    print(f"{args.trace}: GPU busy {total / 1e3:.1f} ms over a span of {(last - first) / 1e3:.1f} ms "
          f"({sum(count.values())} kernels)")
    print(f"-- by launching ATen op (top {args.top})")
    for op, us in by_op.most_common(args.top):
        print(f"{us / 1e3:9.2f} ms {100 * us / total:5.1f}%  {op}")
    if args.by_shape:
        print(f"-- by launching ATen op and input shapes (top {args.top})")
        for key, us in by_shape.most_common(args.top):
            print(f"{us / 1e3:9.2f} ms {100 * us / total:5.1f}%  {key[:args.width + 40]}")
    print(f"-- by kernel (top {args.top})")
    for name, us in by_kernel.most_common(args.top):
        print(f"{us / 1e3:9.2f} ms {100 * us / total:5.1f}% {count[name]:6d}x  {name[:args.width]}")
    if args.host:
        host_summary(events, args.top, args.width)


def walk_thread(evs, self_us, count):
    """Adds one thread's op self times and counts; returns (busy us, span us)."""
    evs.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []  # open ops, outermost first: [end, name, child time, duration]
    busy, last = 0.0, 0.0

    def close(until):
        while stack and stack[-1][0] <= until:
            _, name, children, dur = stack.pop()
            self_us[name] += dur - children
            if stack:
                stack[-1][2] += dur

    for e in evs:
        close(e["ts"])
        if not stack:
            busy += e["dur"]
        stack.append([e["ts"] + e["dur"], e["name"], 0.0, e["dur"]])
        count[e["name"]] += 1
        last = max(last, e["ts"] + e["dur"])
    close(float("inf"))
    return busy, last - evs[0]["ts"]


def host_summary(events, top, width):
    threads = collections.defaultdict(list)
    for e in events:
        if e.get("cat") in ("cpu_op", "cuda_runtime", "cuda_driver") and "dur" in e:
            threads[(e.get("pid"), e.get("tid"))].append(e)
    self_us, count = collections.Counter(), collections.Counter()
    for (_, tid), evs in sorted(threads.items(), key=lambda kv: -len(kv[1])):
        busy, span = walk_thread(evs, self_us, count)
        print(f"-- host thread {tid}: {len(evs)} ops and runtime calls, busy {busy / 1e3:.1f} ms "
              f"of a {span / 1e3:.1f} ms span")
    print(f"-- host self time by op (top {top}; all threads)")
    for name, us in self_us.most_common(top):
        print(f"{us / 1e3:9.2f} ms {count[name]:6d}x {us / max(count[name], 1):7.1f} us  {name[:width]}")


if __name__ == "__main__":
    main()
