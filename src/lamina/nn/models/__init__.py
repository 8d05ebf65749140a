"""Model presets: each turns a few options into a layer chain for the data's shape."""

from lamina.nn.models import cnn, mlp, recurrent, resnet, seq2seq, vit  # importing registers each preset

__all__ = ["cnn", "mlp", "recurrent", "resnet", "seq2seq", "vit"]
