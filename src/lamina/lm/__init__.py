"""Language models: tokenizers, GPT training and generation, a pretrained sentence encoder, few/zero-shot."""
