"""Channel adapters: one module per platform, all behind `base.Channel`."""
