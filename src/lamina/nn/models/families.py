"""The registered model families beside the presets, each with a small example (see lamina.nn.models.family)."""

from __future__ import annotations

import torch

from lamina.nn.models.autoencoder import AutoEncoder
from lamina.nn.models.family import Example, family
from lamina.nn.models.gan import GAN
from lamina.nn.models.language import GPT, GPTOptions
from lamina.nn.models.reward import RewardModel
from lamina.nn.models.unet import UNet

IMAGES = (1, 8, 8)  # the examples' image shape: (channels, height, width)


def binary_images(n: int) -> torch.Tensor:
    """``n`` random black-and-white images: a reconstruction of them can reach zero loss (uniform noise cannot)."""
    return (torch.rand(n, *IMAGES) > 0.5).float()


@family("autoencoder", "encoder to a small latent code and decoder back", "lamina generative, generative.model: autoencoder")
def autoencoder() -> Example:
    """A convolutional autoencoder on 8x8 images."""
    return Example(AutoEncoder(IMAGES, "conv", latent=3, width=4), binary_images(6), (6, *IMAGES))


@family("denoising", "autoencoder that reconstructs clean inputs from corrupted ones",
        "lamina generative, generative.model: denoising")
def denoising() -> Example:
    """A dense autoencoder (the denoising one differs in its training inputs, not its layers)."""
    return Example(AutoEncoder(IMAGES, "dense", latent=3, width=4), binary_images(6), (6, *IMAGES))


@family("vae", "variational autoencoder: a posterior per input, samples from the prior",
        "lamina generative, generative.model: vae")
def vae() -> Example:
    """A convolutional VAE; its forward returns (reconstruction, mu, logvar)."""
    return Example(AutoEncoder(IMAGES, "conv", latent=3, width=4, variational=True), binary_images(6),
                   (6, *IMAGES))


@family("gan", "generator and discriminator trained against each other", "lamina generative, generative.model: gan")
def gan() -> Example:
    """A dense GAN; the example runs the generator on noise."""
    return Example(GAN(IMAGES, "dense", noise=6, width=4), torch.randn(6, 6), (6, *IMAGES),
                   lambda model, z: model.generator(z))


@family("unet", "U-Net: per-pixel class logits with skip connections", "lamina segment")
def unet() -> Example:
    """A U-Net classifying each pixel of 16x16 images into 3 classes."""
    return Example(UNet((1, 16, 16), classes=3, width=4), torch.rand(4, 1, 16, 16), (4, 3, 16, 16))


@family("gpt", "decoder-only Transformer language model (next token)", "lamina train, a config with task: language_model")
def gpt() -> Example:
    """A one-block GPT over 11 tokens with a context of 8."""
    options = GPTOptions(layers=1, heads=2, width=16, context=8)
    return Example(GPT(11, options), torch.randint(0, 11, (4, 8)), (4, 8, 11))


@family("reward", "reward model: text to one score, fitted on preference pairs (Bradley-Terry)",
        "lamina train, a config with preference.method: reward")
def reward() -> Example:
    """A reward model over 11 tokens scoring 4 texts of 8 tokens (rows 0, 2 preferred to rows 1, 3)."""
    return Example(RewardModel(11, width=16, heads=2, max_length=8), torch.randint(0, 11, (4, 8)), (4,),
                   lambda model, ids: model(ids, torch.zeros_like(ids, dtype=torch.bool)))
