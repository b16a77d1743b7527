"""Every figure a task or command writes (matplotlib, PNG, written atomically); no module below
this layer draws."""
