"""Image captioning: the CNN + attentional decoder, the scenes and emoji splits, captions files
and their errors, the scores, and `rnnkit train caption` / `rnnkit caption` end to end."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.images import read_captioned_folder, read_captions, read_image
from rnnkit.data.named import emoji, scenes
from rnnkit.errors import RnnkitError
from rnnkit.generate.search import beam_search, greedy
from rnnkit.models.captioner import Captioner, CaptionerConfig
from rnnkit.models.seq2seq import BOS, EOS, teacher_forced_loss
from rnnkit.runs.driver import load_run
from rnnkit.scoring.captions import caption_scores, count_named, normalise
from rnnkit.tasks.caption import CaptionTask
from tests.caption_data import write_caption_folder
from tests.test_cli_lm import cli


def tiny_model(attention: str = "general", cell: str = "lstm") -> Captioner:
    torch.manual_seed(0)
    return Captioner(CaptionerConfig(vocab_size=12, channels=3, image_size=16, width=4,
                                     stages=2, hidden_size=16, embed_dim=8, cell=cell,
                                     attention=attention, label_smoothing=0.0))  # fmt: skip


def batch(n: int = 8):
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
    tgt = torch.randint(4, 12, (n, 5), generator=g)
    return images, torch.ones(n, dtype=torch.long), tgt, torch.full((n,), 5)


@pytest.mark.parametrize("attention", ["general", "none"])
def test_cnn_and_decoder_train_together_and_the_loss_falls(attention):
    model = tiny_model(attention)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    images, ones, tgt, lengths = batch()
    losses = []
    for _ in range(30):
        loss = teacher_forced_loss(model, images, ones, tgt, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # 8 images, 8 captions of 5 random words: learnable
    assert model.encoder.stem[0].weight.grad.abs().sum() > 0  # the CNN is trained too


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_by_step_decoding_gives_the_teacher_forced_logits(cell):
    model = tiny_model(cell=cell).eval()
    images, ones, tgt, _ = batch(3)
    tgt_in = torch.cat([torch.full((3, 1), BOS), tgt], 1)
    with torch.no_grad():
        forced = model(images, ones, tgt_in)  # (B, T, V)
        st = model.start(images, ones)
        stepped = []
        for t in range(tgt_in.shape[1]):
            logits, st, weights = model.step(tgt_in[:, t], st)
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), forced, atol=1e-5, rtol=1e-5)
    G = model.config.grid_side() ** 2
    assert weights.shape == (3, G) and torch.allclose(weights.sum(-1), torch.ones(3))


def test_beam_search_on_the_captioner_returns_a_caption():
    model = tiny_model().eval()
    images, ones, _, _ = batch(2)
    hyps = beam_search(model, images, ones, BOS, EOS, max_len=7, beam=3)
    assert len(hyps) == 2
    for h in hyps:
        assert 1 <= len(h.tokens) <= 7 and EOS not in h.tokens and np.isfinite(h.logprob)
        assert h.attention.shape[1] == model.config.grid_side() ** 2
    one = beam_search(model, images, ones, BOS, EOS, max_len=7, beam=1)
    assert [h.tokens for h in one] == [h.tokens for h in greedy(model, images, ones, BOS, EOS, 7)]


# -- scenes -------------------------------------------------------------------------------------


def test_scene_captions_say_what_is_where():
    # top-left bag, top-right sneaker, bottom-left shirt
    caps = scenes.describe({0: 8, 1: 7, 2: 6})
    assert "a bag beside a sneaker, above a shirt" in caps
    assert "a shirt below a bag to the left of a sneaker" in caps
    assert len(caps) == len(set(caps)) == 6
    assert scenes.describe({0: 7, 1: 8}) == ["a sneaker to the left of a bag",
                                             "a bag to the right of a sneaker",
                                             "a sneaker beside a bag"]  # fmt: skip
    assert scenes.describe({1: 1, 2: 9}) == ["a pair of trousers above a boot",
                                             "a boot below a pair of trousers"]  # fmt: skip


def fake_items(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_scene_generator_keeps_test_compositions_out_of_training():
    images, labels = fake_items()
    train = scenes.generate("train", 400, images, labels, seed=3)
    test = scenes.generate("test", 100, images, labels, seed=3)
    pairs = lambda s: {frozenset((a, b)) for a in s.concepts for b in s.concepts if a != b}  # noqa: E731
    kinds = {k: i for i, k in enumerate(scenes.KINDS)}
    held = {frozenset(scenes.KINDS[i] for i in p) for p in scenes.HELD_OUT}
    train_pairs = set().union(*(pairs(s) for s in train))
    assert not train_pairs & held  # no training scene holds a held-out pair
    assert all(pairs(s) & held for s in test)  # every test scene holds one
    assert {k for s in train for k in s.concepts} == set(kinds)  # every kind is trained on
    assert all(2 <= len(s.concepts) <= 4 and s.image.shape == (1, 64, 64) for s in test)
    for s in test:  # every reference names every item
        assert all(
            count_named(s.concepts, normalise(c).split()) == len(s.concepts) for c in s.captions
        )
    again = scenes.generate("test", 100, images, labels, seed=3)
    assert all(torch.equal(a.image, b.image) and a.captions == b.captions
               for a, b in zip(test, again, strict=True))  # fmt: skip
    other = scenes.generate("test", 100, images, labels, seed=4)
    assert any(a.captions != b.captions for a, b in zip(test, other, strict=True))


# -- emoji ------------------------------------------------------------------------------------

EMOJI_TEST = """\
# group: People & Body
1F44B                                                  ; fully-qualified     # 👋 E0.6 waving hand
1F44B 1F3FB                                            ; fully-qualified     # 👋🏻 E1.0 waving hand: light skin tone
1F44B 1F3FC                                            ; fully-qualified     # 👋🏼 E1.0 waving hand: medium-light skin tone
1F44B 1F3FD                                            ; fully-qualified     # 👋🏽 E1.0 waving hand: medium skin tone
1F44B 1F3FE                                            ; fully-qualified     # 👋🏾 E1.0 waving hand: medium-dark skin tone
1F44B 1F3FF                                            ; fully-qualified     # 👋🏿 E1.0 waving hand: dark skin tone
1F9D4 1F3FB                                            ; fully-qualified     # 🧔🏻 E5.0 person: light skin tone, beard
263A                                                   ; unqualified         # ☺ E0.6 smiling face
"""  # noqa: E501


def test_emoji_names_split_into_base_and_tones_and_test_pairs_are_held_out():
    rows = emoji.parse_emoji_test(EMOJI_TEST)
    assert len(rows) == 7 and rows[2] == (
        "\U0001f44b\U0001f3fc",
        "waving hand: medium-light skin tone",
    )
    assert emoji.split_name("person: light skin tone, beard") == (
        "person: beard",
        ["light skin tone"],
    )
    assert emoji.split_name("waving hand") == ("waving hand", [])
    names = [n for _, n in rows]
    split = emoji.assign_splits(names, seed=0)
    held = [n for n, s in zip(names, split, strict=True) if s == "test"]
    train = [n for n, s in zip(names, split, strict=True) if s == "train"]
    assert len(held) == 1 and held[0] not in train
    base, tones = emoji.split_name(held[0])
    assert any(emoji.split_name(t)[0] == base for t in train)  # the base is trained on...
    assert "waving hand" in train and split[names.index("waving hand")] == "train"
    assert split[names.index("person: light skin tone, beard")] == "train"  # too few to hold out


# -- captions files and scores ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".csv"])
def test_captions_file_gives_every_caption_of_every_image(tmp_path, suffix):
    folder = write_caption_folder(tmp_path / "imgs", n=5, suffix=suffix)
    caps, skipped = read_captions(folder)
    assert len(caps) == 5 and skipped == 0
    assert all(len(c) == 2 for c in caps.values())
    items, counts = read_captioned_folder(folder, 32, 3)
    assert items[0].image.shape == (3, 32, 32) and items[0].image.dtype == torch.uint8
    assert counts == {"empty_rows": 0, "unreadable_images": 0}


def test_captions_jsonl_and_empty_rows(tmp_path):
    write_caption_folder(tmp_path, n=2)
    (tmp_path / "captions.tsv").unlink()
    rows = [("000.png", "one"), ("000.png", "two"), ("001.png", ""), ("001.png", "three")]
    rows = [{"file": f, "caption": c} for f, c in rows]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    caps, skipped = read_captions(tmp_path)
    assert list(caps.values()) == [["one", "two"], ["three"]] and skipped == 1


def test_caption_file_naming_a_missing_image_is_one_line_naming_it(tmp_path):
    write_caption_folder(tmp_path, n=3)
    with (tmp_path / "captions.tsv").open("a") as f:
        f.write("gone.png\ta caption\n")
    with pytest.raises(RnnkitError, match=r"captions.tsv:8: names the image 'gone.png'"):
        read_captions(tmp_path)


def test_a_file_that_is_not_an_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    with pytest.raises(RnnkitError, match="notes.png: not an image Pillow can read"):
        read_image(bad, 16)
    with pytest.raises(RnnkitError, match="no such image file"):
        read_image(tmp_path / "nothing.png", 16)
    write_caption_folder(tmp_path, n=3)  # a collection: the bad file is skipped and counted
    with (tmp_path / "captions.tsv").open("a") as f:
        f.write("notes.png\ta caption\n")
    items, counts = read_captioned_folder(tmp_path, 16, 3)
    assert len(items) == 3 and counts["unreadable_images"] == 1


def test_scores_take_every_reference_and_count_concepts():
    assert count_named(["bag", "bag", "shirt"], "a bag beside a bag".split()) == 2
    assert count_named(["dark skin tone"], "hand : medium-dark skin tone".split()) == 0
    from rnnkit.data.images import CaptionedImage

    img = torch.zeros(1, 4, 4, dtype=torch.uint8)
    refs = ["a red square on the left now", "the red square at left"]
    items = [
        CaptionedImage("a", img, refs, ["red", "square"]),
        CaptionedImage("b", img, ["a blue circle on the right side"], ["blue", "circle"]),
    ]
    s = caption_scores(["The red square at left", "a blue circle on the right side"], items)
    assert s["bleu"] == pytest.approx(100.0) and s["exact"] == 1.0 and s["recall"] == 1.0
    s = caption_scores(["a red circle", "a blue circle"], items)
    assert s["recall"] == 0.75 and s["exact"] == 0.0 and s["bleu"] < 50


# -- the driver and the command -----------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("caption")
    write_caption_folder(d / "train", n=40)
    flags = ["--data", d / "train", "--max-steps", "6", "--eval-every", "3", "--width", "4",
             "--stages", "2", "--image-size", "16", "--hidden-size", "16", "--embed-dim", "8",
             "--batch-size", "8"]  # fmt: skip
    assert main([str(a) for a in ["train", "caption", *flags, "--out", d / "run", "--quiet"]]) == 0
    return d


def test_train_caption_writes_scores_beside_both_baselines_and_pictures(run):
    results = json.loads((run / "run" / "results.json").read_text())
    assert results["task"] == "caption" and results["test"]["images"] == 4
    assert set(results["baselines"]) == {"frequent", "nearest"}
    for figures in (results["test"], results["other_decoding"], *results["baselines"].values()):
        assert 0 <= figures["bleu"] <= 100 + 1e-9 and 0 <= figures["exact"] <= 1
    for png in ("captions.png", "attention.png", "bleu_curve.png"):
        assert (run / "run" / png).stat().st_size > 1000


def test_decoding_is_chosen_on_validation_and_kept_by_the_loaded_run(run):
    results = json.loads((run / "run" / "results.json").read_text())
    decoding, val = results["decoding"], results["decoding"]["validation"]
    assert decoding["chosen_by"] == "validation BLEU-4 (effective order)"
    assert set(val) == {"beam 5", "greedy"}
    width = {"beam 5": 5, "greedy": 1}
    best = max(val, key=lambda k: (val[k]["bleu"], val[k].get("recall", 0), width[k]))
    assert decoding["beam"] == width[best] and results["test"]["decoding"] == best
    assert results["other_decoding"]["decoding"] == ({"beam 5", "greedy"} - {best}).pop()
    loaded = load_run(run / "run")
    assert loaded.task.chosen_beam == decoding["beam"]
    img = str(run / "train" / "000.png")
    for beam in (1, 3):  # whatever results.json says is what predict decodes with
        loaded.task.restore_results({"decoding": {"beam": beam}})
        assert loaded.predict([img]) == loaded.task.predict(loaded.model, [img], beam=beam)
    loaded.task.restore_results({"decoding": "damaged"})  # ignored, not a traceback
    assert loaded.task.chosen_beam == 3


def test_an_explicit_beam_is_used_without_asking_validation():
    task = CaptionTask(CaptionTask.Data(beam=2), CaptionTask.Model())
    assert task.choose_decoding(None, []) == {"beam": 2, "chosen_by": "--beam"}


def test_caption_command_end_to_end(run, capsys):
    img = run / "train" / "000.png"
    code, out, err = cli(capsys, "caption", run / "run", img, "--beam", "3", "--plot",
                         run / "grid.png", "--attention", run / "looked.png")  # fmt: skip
    assert code == 0, err
    path, caption = out.strip().split("\t")
    assert path == str(img) and caption
    assert (run / "grid.png").is_file() and (run / "looked.png").is_file()
    code, out, _ = cli(capsys, "caption", run / "run", img, "--json")
    assert json.loads(out)[0]["image"] == str(img)
    code, alias, err = cli(capsys, "caption", run / "run", img, "--beam", "1", "--json")
    assert code == 0, err
    code, predicted, err = cli(capsys, "predict", run / "run", img, "--beam", "1", "--json")
    assert code == 0 and json.loads(predicted) == json.loads(alias), err
    sampled = ["--temperature", "1.0", "--seed", "3", "--json"]
    code, first, err = cli(capsys, "predict", run / "run", img, *sampled)
    assert code == 0, err
    assert cli(capsys, "caption", run / "run", img, *sampled)[1] == first


def test_caption_command_bad_input_is_one_line(run, capsys):
    bad = run / "bad.jpg"
    bad.write_bytes(b"\x00\x01 no image here")
    code, out, err = cli(capsys, "caption", run / "run", bad)
    assert code == 2 and err.strip() == f"rnnkit: error: {bad}: not an image Pillow can read"
    folder = run / "mixed"
    folder.mkdir()
    (folder / "a.png").write_bytes((run / "train" / "001.png").read_bytes())
    (folder / "b.png").write_text("text, not pixels")
    code, out, err = cli(capsys, "caption", run / "run", folder)
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert "skipped 1 files that are not readable images" in err
    code, _, err = cli(capsys, "caption", run / "run", run / "train" / "nope.png")
    assert code == 2 and "no such image file" in err and "Traceback" not in err


def test_emoji_dataset_when_its_packages_are_cached():
    from rnnkit.data.named.fetch import cache_dir

    cached = [list((cache_dir() / "packages").glob(f"{p}_*.deb"))
              for p in ("fonts-noto-color-emoji", "unicode-data")]  # fmt: skip
    if not all(cached):
        pytest.skip("the emoji packages are not in the cache (fetched on first use)")
    items = emoji.load_emoji()
    assert len(items) > 3600 and items[0].image.shape == (3, 48, 48)
    assert {it.split for it in items} == {"train", "val", "test"}


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    # A few kB declaring 12000x12000: Pillow only warns at this size and would decode ~1 GB.
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)
    assert bomb.stat().st_size < 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning of Pillow's printed before the error
        with pytest.raises(RnnkitError, match=r"bomb.png: 12000x12000 pixels, over the 89,478,4"):
            read_image(bomb, 16)


def test_image_files_keep_their_aspect(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 10), (255, 0, 0)).save(tmp_path / "wide.png")
    x = read_image(tmp_path / "wide.png", 20)
    assert x.shape == (3, 20, 20)
    assert x[:, 10, 10].tolist() == [255, 0, 0] and x[:, 0, 10].tolist() == [255, 255, 255]
    grey = read_image(Path(tmp_path / "wide.png"), 20, channels=1)
    assert grey.shape == (1, 20, 20)
