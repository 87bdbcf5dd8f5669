"""Read models: one module per model, each kept by the projection runner."""
