"""The driver, above the tasks: ``fit`` trains any task into a run folder, ``load_run`` brings a
run back, and the functions that take a run folder (a language model's ``generate``,
``complete`` and ``score``; ``compose`` for a music run) live beside it."""
