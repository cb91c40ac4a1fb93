"""Carrying out a plan: dependency order, one dataflow's convergence, the request bodies the
tool sends, read-back verification; and bringing a live dataflow under management."""
