"""FLOPs of a traced step and the machine's matmul / convolution ceilings, for the speed benchmarks.

FLOPs are counted from the graph TensorFlow traces for one call, before Grappler rewrites it: every MatMul,
BatchMatMul, Conv2D and both convolution gradients (Conv2DBackpropInput, which transposed convolutions
also use, and Conv2DBackpropFilter), in the graph and in the functions it calls (loop bodies, gradient
functions), at 2 FLOPs per multiply-add. Element-wise ops, normalisation and optimizer updates are not
counted: the figure is the matrix work, which is what the ceilings measure. Where tracing left a batch
dimension unknown (noise drawn for `tf.shape(x)[0]` rows), it is taken as `batch`.

Ceilings are measured with the same TensorFlow kernels (oneDNN on CPU): a 4096 x 4096 x 4096 matmul, and
a 5x5 stride-2 "same" convolution of a [64, 32, 32, 128] batch to 256 channels, each in float32 and bfloat16,
the best of a few calls. Benchmarks measure them in every round, interleaved with the steps they judge.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def _shape(node, index, shapes):
    return shapes.get(f"{node}:{index}")


def graph_flops(graph_def, batch: int) -> float:
    """Matrix FLOPs of a GraphDef, its function library's functions each counted once per call site."""
    library = {f.signature.name: f for f in graph_def.library.function}
    cache: dict[str, float] = {}

    def dims(shape_proto):
        return [d.size for d in shape_proto.dim] if not shape_proto.unknown_rank else None

    def fix(shape):
        if shape is None:
            return None
        return [batch if (i == 0 and d < 0) else d for i, d in enumerate(shape)]

    def count(nodes, output_shapes) -> float:
        total = 0.0
        for node in nodes:
            op = node.op
            called = [a.func.name for a in node.attr.values() if a.HasField("func")]
            called += [f.name for a in node.attr.values() if a.HasField("list") for f in a.list.func]
            if op in library:
                called.append(op)
            for name in called:
                if name in library:
                    if name not in cache:
                        cache[name] = 0.0  # recursion guard
                        cache[name] = function_flops(library[name])
                    total += cache[name]
            if op in ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv2D", "Conv2DBackpropInput",
                      "Conv2DBackpropFilter"):
                total += node_flops(node, output_shapes)
        return total

    def node_flops(node, output_shapes) -> float:
        ins = [fix(output_shapes.get(_input_key(i))) for i in node.input if not i.startswith("^")]
        out = fix(output_shapes.get(f"{node.name}:0"))
        try:
            if node.op == "MatMul":
                a, b = ins[0], ins[1]
                m = a[1] if node.attr["transpose_a"].b else a[0]
                k = a[0] if node.attr["transpose_a"].b else a[1]
                n = b[0] if node.attr["transpose_b"].b else b[1]
                return 2.0 * m * n * k
            if node.op.startswith("BatchMatMul"):
                return 2.0 * float(np.prod(out)) * (ins[0][-2] if node.attr["adj_x"].b else ins[0][-1])
            if node.op == "Conv2D":  # out [n, h, w, cout], filter [kh, kw, cin, cout]
                f = ins[1]
                return 2.0 * float(np.prod(out)) * f[0] * f[1] * f[2]
            # Backprop ops: input 2 is dy [n, h, w, cout]; the filter is [kh, kw, cin, cout] (input 1 of
            # BackpropInput; BackpropFilter's output).
            f = ins[1] if node.op == "Conv2DBackpropInput" else out
            return 2.0 * float(np.prod(ins[2])) * f[0] * f[1] * f[2]
        except (TypeError, IndexError, ValueError):
            return 0.0  # shape unknown: not counted

    def function_flops(fdef) -> float:
        shapes = {}
        for node in fdef.node_def:
            for i, s in enumerate(node.attr["_output_shapes"].list.shape):
                shapes[f"{node.name}:{i}"] = dims(s)
        for i, arg in enumerate(fdef.signature.input_arg):
            attr = fdef.arg_attr[i].attr.get("_output_shapes") if i in fdef.arg_attr else None
            if attr is not None and attr.list.shape:
                shapes[f"{arg.name}:0"] = dims(attr.list.shape[0])
        return count(fdef.node_def, _FunctionShapes(shapes))

    shapes = {}
    for node in graph_def.node:
        for i, s in enumerate(node.attr["_output_shapes"].list.shape):
            shapes[f"{node.name}:{i}"] = dims(s)
    return count(graph_def.node, shapes)


class _FunctionShapes(dict):
    """Output shapes inside a FunctionDef, where inputs read 'node:output_arg:index'."""

    def get(self, key, default=None):
        if key in self:
            return dict.get(self, key)
        parts = key.split(":")
        if len(parts) == 3:
            return dict.get(self, f"{parts[0]}:{parts[2]}", default)
        if len(parts) == 2 and parts[1] == "0":
            return dict.get(self, parts[0] + ":0", default)
        return default


def _input_key(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def traced_flops(fn, *args, batch: int) -> float:
    """Matrix FLOPs of one call of the tf.function `fn` on `args` (traced, not run)."""
    concrete = fn.get_concrete_function(*args)
    graph_def = concrete.graph.as_graph_def(add_shapes=True)
    return graph_flops(graph_def, batch)


class Ceilings:
    """The machine's matmul and convolution throughput in GFLOP/s, per dtype, measured on demand."""

    MATMUL_N = 4096
    CONV = dict(input=(64, 32, 32, 128), kernel=(5, 5, 128, 256), stride=2)

    def __init__(self):
        self.samples: dict[str, list[float]] = {}
        self._fns = {}
        for dtype in ("float32", "bfloat16"):
            n = self.MATMUL_N
            a = tf.random.uniform([n, n], dtype=tf.float32)
            self._fns[f"matmul_{dtype}"] = (self._matmul, (tf.cast(a, dtype), tf.cast(a, dtype)), 2.0 * n ** 3)
            x = tf.cast(tf.random.uniform(self.CONV["input"]), dtype)
            k = tf.cast(tf.random.uniform(self.CONV["kernel"]) * 0.01, dtype)
            out = self.CONV["input"][0] * (self.CONV["input"][1] // 2) * (self.CONV["input"][2] // 2)
            kh, kw, cin, cout = self.CONV["kernel"]
            self._fns[f"conv_{dtype}"] = (self._conv, (x, k), 2.0 * out * cout * kh * kw * cin)
        for fn, args, _ in self._fns.values():  # trace and warm up
            fn(*args).numpy()

    @staticmethod
    @tf.function
    def _matmul(a, b):
        return tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32))

    @staticmethod
    @tf.function
    def _conv(x, k):
        return tf.reduce_sum(tf.cast(tf.nn.conv2d(x, k, 2, "SAME")[:1, :1, :1, :1], tf.float32))

    def measure(self, repeats: int = 2) -> None:
        """Adds one sample (best of `repeats` calls) of every ceiling."""
        for name, (fn, args, flops) in self._fns.items():
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                fn(*args).numpy()
                best = min(best, time.perf_counter() - start)
            self.samples.setdefault(name, []).append(flops / best / 1e9)

    def gflops(self, name: str) -> float:
        """Median over the samples of `name` ("matmul_float32", "conv_bfloat16", ...)."""
        return float(np.median(self.samples[name]))
