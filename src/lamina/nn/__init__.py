"""Networks: chainable layer specs with shape inference, initializers and presets."""
