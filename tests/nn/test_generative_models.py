"""Shapes and contracts of the autoencoder, GAN and U-Net models, and their input checks."""

from __future__ import annotations

import pytest
import torch

from lamina.errors import ConfigError
from lamina.nn.models.autoencoder import AutoEncoder
from lamina.nn.models.gan import GAN, MinibatchStd
from lamina.nn.models.unet import UNet
from lamina.train.alternating import discriminator_loss, generator_loss
from lamina.train.reconstruction import kl_divergence


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("variational", [False, True])
def test_autoencoder_encode_decode_shapes(kind, variational):
    model = AutoEncoder((1, 8, 8), kind, latent=3, width=4, variational=variational).eval()
    x = torch.rand(5, 1, 8, 8)
    z = model.encode(x)
    assert z.shape == (5, 3)
    recon = model.decode(z)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    out = model(x)
    assert (out[0] if variational else out).shape == x.shape
    assert model.sample(4).shape == (4, 1, 8, 8)


def test_vae_reparameterization_carries_gradients_to_mu_and_logvar():
    model = AutoEncoder((1, 8, 8), "dense", latent=2, width=4, variational=True).train()
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    model.reparameterize(mu, logvar).sum().backward()
    assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0
    assert torch.equal(model.eval().reparameterize(mu, logvar), mu)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    assert float(kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3))) == pytest.approx(0.0)
    assert float(kl_divergence(torch.ones(4, 3), torch.zeros(4, 3))) == pytest.approx(1.5)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_gan_shapes(kind):
    gan = GAN((1, 8, 8), kind, noise=6, width=4)
    samples = gan.sample(7)
    assert samples.shape == (7, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert gan.discriminator(samples).shape == (7,)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_minibatch_std_lets_the_discriminator_tell_a_collapsed_batch_from_a_varied_one(kind):
    torch.manual_seed(0)
    gan = GAN((1, 8, 8), kind, noise=6, width=4, minibatch_std=True)
    varied = torch.rand(16, 1, 8, 8)
    collapsed = varied[:1].expand(16, 1, 8, 8)  # one sample repeated: what a collapsed generator makes
    spread = [m for m in gan.discriminator.net if isinstance(m, MinibatchStd)]
    assert len(spread) == 1
    features = []
    spread[0].register_forward_hook(lambda module, inputs, output: features.append(output.detach()))
    with torch.no_grad():
        gan.discriminator(varied)
        gan.discriminator(collapsed)
    assert float(features[0][:, -1].min()) > 0.01  # the extra channel carries the batch's spread
    assert float(features[1][:, -1].abs().max()) == 0.0  # identical samples: no spread at all
    assert gan.discriminator(collapsed).shape == (16,)
    without = GAN((1, 8, 8), kind, noise=6, width=4)
    assert not any(isinstance(m, MinibatchStd) for m in without.discriminator.net)


def test_gan_losses():
    real, fake = torch.full((4,), 3.0), torch.full((4,), -3.0)
    assert float(discriminator_loss(real, fake, "hinge", 0.0)) == 0.0  # both beyond the margin
    assert float(generator_loss(fake, "hinge")) == 3.0
    confident = float(discriminator_loss(real, fake, "nonsaturating", 0.0))
    smoothed = float(discriminator_loss(real, fake, "nonsaturating", 0.1))
    assert confident < smoothed  # label smoothing penalizes over-confident real logits
    assert float(generator_loss(fake, "nonsaturating")) == pytest.approx(3.0486, abs=1e-3)  # -log sigmoid(-3)


def test_unet_output_shape_and_skip_gradients():
    net = UNet((1, 16, 16), classes=4, width=4)
    out = net(torch.rand(2, 1, 16, 16))
    assert out.shape == (2, 4, 16, 16)
    out.sum().backward()
    assert net.down1[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("build, message", [
    (lambda: AutoEncoder((1, 6, 6), "conv"), "divisible by 4"),
    (lambda: AutoEncoder((1, 8, 8), "mlp"), "must be one of dense, conv"),
    (lambda: GAN((10,), "conv"), "image inputs"),
    (lambda: UNet((1, 8, 8), classes=1), "at least 2 classes"),
])
def test_bad_model_settings_name_the_problem(build, message):
    with pytest.raises(ConfigError, match=message):
        build()
