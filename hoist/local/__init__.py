"""`hoist local`: the whole lifecycle on one machine with no cloud, through the entrypoints the images run.

Two lanes share the plan of the dev stack: the classic lane (the reference model: prepare, train,
optimise, serve with the classic server) and the LLM lane (a Hugging Face checkpoint: prepare chat
data with its tokenizer, fine-tune with torchrun workers, export the LLM artifact, score it). Every
child runs in a session of its own and is stopped however the run ends (Ctrl-C included).
"""
