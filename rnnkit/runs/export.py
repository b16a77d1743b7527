"""``export_onnx``: a trained run's best checkpoint as ONNX files that onnxruntime runs.

The graphs are the export copies of ``rnnkit.models.exportable`` (torch.nn's layers with the
run's weights), written by ``torch.onnx.export``, so the recurrences are the standard ONNX
LSTM/GRU/RNN operators. Before anything is written, every graph is run by onnxruntime on
inputs of another batch size and length than the ones it was traced with, and its outputs
are compared with the run's own model (rnnkit's layers): a graph further than ``TOLERANCE``
away is an error, never a file. Beside the graphs go ``export.json`` (each graph's inputs and
outputs with their shapes, the vocabularies, labels and special ids) and the run's artefacts
(tokenizers, labels), so the folder is all a caller needs.

``onnx`` and ``onnxruntime`` are the optional extra ``rnnkit[onnx]``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.tokenizers import tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes, atomic_write_json, new_output
from rnnkit.models.exportable import Graph, export_graphs
from rnnkit.runs.driver import load_run
from rnnkit.train import checkpoint as ckpt

OPSET = 17
TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| allowed, for every output
TRACE_SHAPE = (2, 5)  # (batch, steps) the graphs are traced with
CHECK_SHAPE = (3, 7)  # and checked with: other sizes, so a size baked in shows
MANIFEST = "export.json"


def _need_extra() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise RnnkitError(
            "ONNX export needs onnx and onnxruntime: pip install 'rnnkit[onnx]'"
        ) from None
    return onnx, onnxruntime


def _logaddexp(g: Any, a: Any, b: Any) -> Any:
    """log(e^a + e^b) = max(a, b) + softplus(-|a - b|), in ONNX operators (the exporter has
    none for it; copy attention mixes its two distributions with it)."""
    gap = g.op("Neg", g.op("Abs", g.op("Sub", a, b)))
    return g.op("Add", g.op("Max", a, b), g.op("Softplus", gap))


def _to_onnx(graph: Graph, example: tuple[torch.Tensor, ...]) -> bytes:
    """The graph as ONNX bytes, through torch.onnx's TorchScript-based exporter: the one that
    writes torch.nn's LSTM/GRU/RNN as ONNX's own operators in this torch."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice and tracer warnings
        torch.onnx.register_custom_op_symbolic("aten::logaddexp", _logaddexp, OPSET)
        torch.onnx.export(
            graph.module, example, f, dynamo=False, opset_version=OPSET,
            input_names=graph.inputs, output_names=graph.outputs, dynamic_axes=graph.axes,
        )  # fmt: skip
    return f.getvalue()


def _difference(got: np.ndarray, want: torch.Tensor) -> float:
    want = want.detach().cpu().numpy()
    if got.shape != want.shape:
        return float("inf")
    if want.dtype == np.bool_ or np.issubdtype(want.dtype, np.integer):
        return 0.0 if np.array_equal(got, want) else float("inf")
    same = got == want  # equal infinities count as equal
    return float(np.abs(np.where(same, 0.0, got - want)).max(initial=0.0))


def check_graph(
    onnx_bytes: bytes, graph: Graph, seed: int = 0, shape: tuple[int, int] = CHECK_SHAPE
) -> dict[str, Any]:
    """Run the ONNX graph with onnxruntime on fresh inputs of ``shape`` (batch, steps) and
    compare each output with the run's own model: the largest difference per output, and the
    operators."""
    onnx, ort = _need_extra()
    proto = onnx.load_from_string(onnx_bytes)
    onnx.checker.check_model(proto)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        inputs = graph.example(*shape, gen)
        want = graph.reference(*inputs)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feed = dict(zip(graph.inputs, (t.numpy() for t in inputs), strict=True))
    got = session.run(graph.outputs, feed)
    diffs = {n: _difference(g, w) for n, g, w in zip(graph.outputs, got, want, strict=True)}
    return {
        "max_abs_diff": diffs,
        "operators": sorted({n.op_type for n in proto.graph.node}),
        "inputs": {i.name: {"shape": i.shape, "type": i.type} for i in session.get_inputs()},
        "outputs": {o.name: {"shape": o.shape, "type": o.type} for o in session.get_outputs()},
    }


def _vocabularies(run_dir: Path, names: list[str]) -> dict[str, Any]:
    """Each artefact that is a tokenizer as its token list (id -> token), and each that is a
    list (labels.json, tags.json) by its name (``labels``, ``tags``)."""
    lists, vocabularies = {}, {}
    for name in names:
        data = ckpt.read_json(run_dir / name, f"artefact {name}")
        if isinstance(data, list):
            lists[name.removesuffix(".json")] = data
        elif isinstance(data, dict) and "level" in data:
            vocabularies[name] = {"level": data["level"],
                                  "tokens": list(tokenizer_from_dict(data).vocab)}  # fmt: skip
    return {"vocabularies": vocabularies, **lists}


def export_onnx(run_dir: str | Path, out: str | Path | None = None, force: bool = False) -> dict:
    """Write ``run_dir``'s best model to the folder ``out`` (default ``RUN/onnx``) as ONNX
    graphs, ``export.json`` and the run's artefacts; returns export.json's content. Refused
    (RnnkitError) when the extra is missing, the model cannot be exported, the outputs of a
    graph differ from PyTorch's, or a file exists and ``force`` is not given."""
    _, ort = _need_extra()
    run = load_run(run_dir)
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "onnx"
    if out.suffix.lower() == ".onnx" or out.is_file():
        raise RnnkitError(f"the export goes to a folder, not a file ({out}): it is several files")
    model = run.model.cpu().float().eval()
    graphs = export_graphs(model)
    artefacts = list(ckpt.run_info(run_dir).get("artefacts", []))
    paths = {g.name: new_output(out / f"{g.name}.onnx", force, "ONNX file") for g in graphs}
    for name in [MANIFEST, *artefacts]:
        new_output(out / name, force, "file")
    written, described = {}, {}
    gen = torch.Generator().manual_seed(0)
    for g in graphs:
        with torch.no_grad():
            example = g.example(*TRACE_SHAPE, gen)
            try:
                data = _to_onnx(g, example)
            except Exception as exc:  # the exporter's errors have no common type
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise RnnkitError(f"cannot export the {g.name} of this {run.task.name} run to "
                                  f"ONNX: {first}") from None  # fmt: skip
        check = check_graph(data, g)
        worst = max(check["max_abs_diff"].values(), default=0.0)
        if not worst <= TOLERANCE:
            raise RnnkitError(f"the exported {g.name} differs from PyTorch by {worst:.3g} "
                              f"(more than {TOLERANCE}); nothing written")  # fmt: skip
        written[g.name] = data
        described[g.name] = {"file": f"{g.name}.onnx", **check, **g.notes}
    manifest = {
        "format": "onnx",
        "task": run.task.name,
        "run": str(run_dir),
        "opset": OPSET,
        "onnxruntime": ort.__version__,
        "tolerance": TOLERANCE,
        "check_shape": {"batch": CHECK_SHAPE[0], "steps": CHECK_SHAPE[1]},
        "graphs": described,
        **_vocabularies(run_dir, artefacts),
    }
    for name, data in written.items():
        atomic_write_bytes(paths[name], data)
    for name in artefacts:
        atomic_write_bytes(out / name, (run_dir / name).read_bytes())
    atomic_write_json(out / MANIFEST, manifest)
    return manifest
