"""RQ-VAE (TIGER, Rajput et al. 2023) on ``vector_quantize_pytorch.ResidualVQ``.

An MLP encoder (TIGER: 512-256-128 to a 32-d latent) feeds a residual quantiser
(3 levels x 256 codes, commitment weight beta = 0.25); a mirrored decoder
reconstructs the (standardised) input. Loss = reconstruction MSE + quantiser loss.
Codebooks are k-means-initialised on one large first batch (``kmeans_init_items``
items) and dead codes are replaced from the batch (``threshold_ema_dead_code``;
without it level 1 collapses to a handful of codes on MiniLM title vectors).

Deviations from the paper, named: codebooks are updated by exponential moving
averages (the library's default, VQ-VAE-2 style) instead of by the codebook loss
term; Adam (lr 1e-3) for ``steps`` steps instead of Adagrad (lr 0.4) for 20k epochs,
so a fit takes minutes on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from vector_quantize_pytorch import ResidualVQ

from genrec.tokenizers.base import FitOutput, TokenizerConfig, standardize


@dataclass
class RQVAEConfig(TokenizerConfig):
    scheme: str = "rqvae"
    hidden_sizes: list[int] = field(default_factory=lambda: [512, 256, 128])
    latent_dim: int = 32
    beta: float = 0.25  # commitment weight
    ema_decay: float = 0.99
    threshold_ema_dead_code: float = 2.0
    kmeans_init_items: int = 16384  # the large first batch the codebooks are k-means-initialised on
    kmeans_iters: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    steps: int = 2000
    dropout: float = 0.0


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.SiLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class RQVAEModule(pl.LightningModule):
    def __init__(self, input_dim: int, cfg: RQVAEConfig):
        super().__init__()
        self.cfg = cfg
        sizes = [input_dim, *cfg.hidden_sizes, cfg.latent_dim]
        self.encoder = mlp(sizes, cfg.dropout)
        self.decoder = mlp(sizes[::-1], cfg.dropout)
        self.quantizer = ResidualVQ(
            dim=cfg.latent_dim,
            num_quantizers=cfg.levels,
            codebook_size=cfg.codebook_size,
            commitment_weight=cfg.beta,
            decay=cfg.ema_decay,
            kmeans_init=True,
            kmeans_iters=cfg.kmeans_iters,
            threshold_ema_dead_code=cfg.threshold_ema_dead_code,
        )

    def forward(self, x):
        z = self.encoder(x)
        quantized, indices, vq_loss = self.quantizer(z)
        return self.decoder(quantized), indices, vq_loss.sum(), z

    def training_step(self, batch, batch_idx):
        (x,) = batch
        reconstruction, _, vq_loss, _ = self(x)
        recon_loss = (reconstruction - x).pow(2).mean()
        loss = recon_loss + vq_loss
        self.log_dict({"rqvae/loss": loss, "rqvae/reconstruction": recon_loss}, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Codes, last-level inputs, last codebook and reconstruction MSE, in eval mode."""
        self.eval()
        z = self.encoder(x)
        quantized, indices, _, = self.quantizer(z)[:3]
        _, _, _, all_codes = self.quantizer(z, return_all_codes=True)
        last_inputs = z - all_codes[:-1].sum(0)
        mse = (self.decoder(quantized) - x).pow(2).mean().item()
        codebook = self.quantizer.layers[-1]._codebook.embed[0].detach().clone()
        return indices, last_inputs, codebook, mse


class RQVAE:
    def __init__(self, cfg: RQVAEConfig, progress: bool = True):
        self.cfg = cfg
        self.progress = progress

    def fit(self, vectors: torch.Tensor, seed: int = 0) -> FitOutput:
        cfg = self.cfg
        pl.seed_everything(seed, workers=True, verbose=False)
        x = standardize(vectors.float()) if cfg.standardize else vectors.float()
        module = RQVAEModule(x.shape[1], cfg)
        generator = torch.Generator().manual_seed(seed)
        first = x[torch.randperm(len(x), generator=generator)[: cfg.kmeans_init_items]]
        with torch.no_grad():  # the large first batch: k-means initialisation of every level
            module.train()
            module(first)
        if self.progress:  # flushed: a parent process watching the pipe knows the long part has begun
            print(f"rqvae: codebooks initialised by k-means on {len(first):,} items; training {cfg.steps:,} steps",
                  flush=True)
        batch_size = min(cfg.batch_size, len(x))
        # one long epoch of `steps` random batches: no per-epoch overhead on small catalogues
        sampler = RandomSampler(TensorDataset(x), replacement=True, num_samples=cfg.steps * batch_size,
                                generator=generator)
        loader = DataLoader(TensorDataset(x), batch_size=batch_size, sampler=sampler)
        trainer = pl.Trainer(max_steps=cfg.steps, max_epochs=1, logger=False, enable_checkpointing=False,
                             enable_model_summary=False, accelerator="cpu", log_every_n_steps=50,
                             enable_progress_bar=self.progress)
        trainer.fit(module, loader)
        codes, last_inputs, codebook, mse = module.encode(x)
        return FitOutput(
            codes=codes.long(),
            codebook_sizes=[cfg.codebook_size] * cfg.levels,
            last_inputs=last_inputs,
            last_codebook=codebook,
            details={"reconstruction_mse": mse, "input_variance": x.var(0).mean().item(), "steps": trainer.global_step},
        )
