"""Image captioning: a small residual CNN in front of ``AttentionDecoder`` (Show and Tell,
Vinyals et al. 2015; with attention over the CNN's grid, Show, Attend and Tell, Xu et al. 2015).

Symbols: B batch, C image channels, S image side, W the first stage's width, K = W 2^(N-1)
the last stage's channels (N stages), G = g x g grid positions (g = S / 2^N, rounded up).

Encoder (trained with the captioner from scratch: torchvision is CUDA-linked here and no
pretrained weights can be had)::

    x        = pixels / 127.5 - 1                                  (B, C, S, S)
    stem     = ReLU(BN(conv3x3/2(x)))                              (B, W, S/2, S/2)
    stage n  = ResBlock(stride 1 for n = 0, else 2)                widths W, 2W, 4W, ...
    ResBlock = ReLU(BN(conv3x3(ReLU(BN(conv3x3/s(x))))) + P x)     P: 1x1/s conv + BN, or I
    grid     = the last stage's output                             (B, K, g, g)

What the decoder gets:

    summary  = [mean_G grid ; avgpool_2x2(grid)]                   (B, 5K)  -> the bridge
    keys_j   = grid_j + p_j        p: a learned embedding of the position j   (B, G, K)

The 2 x 2 pooling keeps where things are in the summary (left/right, top/bottom), which a
plain mean throws away and a caption's relations need when the decoder does not attend; the
position embedding does the same for the attended context. With ``attention none`` the decoder
reads the image only through its initial state (Show and Tell); otherwise it also attends over
the G grid cells at every word (Show, Attend and Tell, with the seq2seq attention module).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.models.decoder import ATTENTIONS, AttentionDecoder, DecodeState
from rnnkit.models.recurrent import PACKED_CELLS, RecurrentSettings, TaskModel
from rnnkit.models.seq2seq import PAD


@dataclass(kw_only=True)
class CaptionerConfig(RecurrentSettings):
    """Everything needed to rebuild a Captioner."""

    cell: str = setting("lstm", "recurrent cell of the decoder", choices=PACKED_CELLS)
    vocab_size: int = setting(5, "caption vocabulary (from the data)", lo=5, hi=10**7, cli=False)
    channels: int = setting(3, "image channels (from the data)", lo=1, hi=4, cli=False)
    image_size: int = setting(64, "image side in pixels (from the data)", lo=8, hi=1024, cli=False)
    width: int = setting(32, "channels of the CNN's first stage (doubled at each later one)",
                         lo=4, hi=1024)  # fmt: skip
    stages: int = setting(3, "residual stages of the CNN (each after the first halves the grid)",
                          lo=1, hi=6)  # fmt: skip
    embed_dim: int = setting(64, "word embedding size", lo=1, hi=16384, aliases=("--embed",))
    attention: str = setting("general", "attention over the image grid (none: Show and Tell)",
                             choices=ATTENTIONS)  # fmt: skip
    input_feed: bool = setting(
        False, "feed the last attentional vector back into the decoder (Luong et al. 2015; "
        "slower: the decoder then goes step by step)",
    )  # fmt: skip
    tie_embeddings: bool = setting(False, "share the decoder's input and output embeddings")
    label_smoothing: float = setting(0.1, "label smoothing of the loss", lo=0, hi=0.99)

    def grid_side(self) -> int:
        side = self.image_size
        for _ in range(self.stages):  # the stem and every stage after the first halve it
            side = (side + 1) // 2
        return side

    def feature_size(self) -> int:
        return self.width * 2 ** (self.stages - 1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (He et al. 2016, "basic block")."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ImageEncoder(nn.Module):
    """Pixels (B, C, S, S), uint8 or float in [0, 255] -> grid (B, K, g, g)."""

    def __init__(self, c: CaptionerConfig):
        super().__init__()
        W = c.width
        self.stem = nn.Sequential(
            nn.Conv2d(c.channels, W, 3, 2, 1, bias=False), nn.BatchNorm2d(W), nn.ReLU()
        )
        widths = [W * 2**n for n in range(c.stages)]
        self.stages = nn.Sequential(*(
            ResBlock(widths[max(n - 1, 0)], widths[n], 1 if n == 0 else 2)
            for n in range(c.stages)
        ))  # fmt: skip

    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 127.5 - 1.0  # (B, C, S, S) in [-1, 1]
        return self.stages(self.stem(x))  # (B, K, g, g)


class Captioner(TaskModel):
    """``forward(images, lengths, tgt_in) -> logits`` (teacher forcing; ``lengths`` is there so
    the seq2seq loss and decoders take it unchanged, and ignored); ``start`` and ``step`` for
    the decoders in ``rnnkit.generate.search``; ``features`` for nearest-neighbour search."""

    def __init__(self, config: CaptionerConfig):
        super().__init__()
        c = self.config = config.validate()
        K, G = c.feature_size(), c.grid_side() ** 2
        self.encoder = ImageEncoder(c)
        self.position = nn.Parameter(torch.randn(G, K) * 0.02)  # (G, K)
        self.decoder = AttentionDecoder(
            cell=c.cell, vocab_size=c.vocab_size, embed_dim=c.embed_dim,
            hidden_size=c.hidden_size, num_layers=c.num_layers, key_size=K, summary_size=5 * K,
            attention=c.attention, input_feed=c.input_feed, tie_embeddings=c.tie_embeddings,
            dropout=c.dropout,
            backend=c.backend, padding_idx=PAD,
        )  # fmt: skip

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """summary (B, 5K) and keys (B, G, K) of images (B, C, S, S)."""
        grid = self.encoder(images)  # (B, K, g, g)
        B, K = grid.shape[:2]
        quadrants = F.adaptive_avg_pool2d(grid, 2).flatten(1)  # (B, 4K)
        summary = torch.cat([grid.mean((2, 3)), quadrants], dim=1)  # (B, 5K)
        keys = grid.flatten(2).transpose(1, 2) + self.position  # (B, G, K)
        return summary, keys

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """The encoder's summary (B, 5K): the feature space of the nearest-image baseline."""
        return self.encode(images)[0]

    def start(self, images: Tensor, lengths: Tensor | None = None) -> DecodeState:
        """The decoder's first state for images (B, C, S, S); ``lengths`` is ignored."""
        summary, keys = self.encode(images)
        mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)  # (B, G)
        return self.decoder.begin(summary, keys, mask)

    def step(self, tokens: Tensor, st: DecodeState) -> tuple[Tensor, DecodeState, Tensor | None]:
        """One decoder step for previous tokens (B,): logits (B, V), the next state and the
        attention weights over the grid (B, G) (None without attention)."""
        return self.decoder.step(tokens, st)

    def forward(
        self, images: Tensor, lengths: Tensor | None, tgt_in: Tensor,
        positions: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """Teacher forcing: logits (B, T, V) for target inputs tgt_in (B, T) (BOS, y_1, ...),
        or (N, V) at the N true ``positions`` (B, T) only (``AttentionDecoder.forward``)."""
        return self.decoder(self.start(images), tgt_in, positions)
