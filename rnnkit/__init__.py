"""rnnkit: recurrent neural networks with hand-derived BPTT."""
