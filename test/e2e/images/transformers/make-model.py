"""Creates the tiny causal language model the end-to-end suite serves (a 2-layer GPT-2 with a byte-level BPE
tokenizer trained on a few sentences, random weights from a fixed seed) in DIR with save_pretrained, and prints
one JSON line: the files, and the greedy completion of PROMPT computed from DIR (the answer the served model
must give).   python make-model.py DIR PROMPT MAX_TOKENS"""

import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, FlaxAutoModelForCausalLM, FlaxGPT2LMHeadModel, GPT2Config, PreTrainedTokenizerFast

out, prompt, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = [
    "the warm node cache answers cold starts from local disk",
    "modelctl serves models on knative with node local caches",
    "a pod woken from zero reads the model the agent downloaded",
] * 10
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=320, special_tokens=["<unk>", "<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
)
tok.train_from_iterator(text, trainer)
PreTrainedTokenizerFast(
    tokenizer_object=tok, unk_token="<unk>", eos_token="<|endoftext|>", bos_token="<|endoftext|>"
).save_pretrained(out)
eos = tok.token_to_id("<|endoftext|>")
config = GPT2Config(
    vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=eos, eos_token_id=eos
)
FlaxGPT2LMHeadModel(config, seed=7).save_pretrained(out, safe_serialization=True)

# the oracle: the same greedy decoding the server runs, from the folder (no cache, no Hub)
tokenizer = AutoTokenizer.from_pretrained(out)
model = FlaxAutoModelForCausalLM.from_pretrained(out)
ids = tokenizer(prompt, return_tensors="np")
seq = model.generate(
    ids["input_ids"], attention_mask=ids["attention_mask"], max_new_tokens=max_tokens, do_sample=False,
    pad_token_id=tokenizer.eos_token_id,
).sequences[0, ids["input_ids"].shape[1] :]
print(json.dumps({
    "files": sorted(os.listdir(out)),
    "text": tokenizer.decode(seq, skip_special_tokens=True),
    "tokenIds": seq.tolist(),
}))
