"""A tiny CLIP model folder, as an artist keeps one, for the tests of CLIP scoring."""

import numpy as np
from sd_support import write_tokenizer

SIZE = 32  #: the images it takes


def tiny_clip(folder):
    """A CLIP model of random weights, its tokenizer and an image processor for 32 x 32 images."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from studio_builtins.clip.loading import image_processor_class

    write_tokenizer(folder)
    tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    torch.manual_seed(0)
    layers = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    model = CLIPModel(CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **layers),
        vision_config=dict(image_size=SIZE, patch_size=8, **layers), projection_dim=16))
    processor = image_processor_class()(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    return model, tokenizer, processor


def save(model, processor, folder):
    write_tokenizer(folder)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


RED, BLUE = 0, 2  # channels


def coloured(channel, n, rng):
    """``n`` noisy images, mostly of one colour channel, each of its own shade."""
    images = np.zeros((n, SIZE, SIZE, 3), np.float32)
    images[..., channel] = rng.uniform(0.6, 1.0, (n, 1, 1))
    return np.clip(images + rng.uniform(0.0, 0.3, images.shape), 0.0, 1.0).astype(np.float32)


def pixels_of(processor, images):
    """What CLIP sees of images in [0, 1]: their 8-bit pictures through the folder's image processor."""
    return processor(images=list(np.round(images * 255).astype(np.uint8)), return_tensors="pt",
                     input_data_format="channels_last")["pixel_values"]


def train_red_and_blue(model, tokenizer, processor, steps=80):
    """Teach the model which of "red" and "blue" each image shows (cross-entropy over the two prompts)."""
    import torch

    rng = np.random.default_rng(1)
    pool = np.concatenate([coloured(RED, 32, rng), coloured(BLUE, 32, rng)])
    labels = torch.tensor([0] * 32 + [1] * 32)
    pixels = pixels_of(processor, pool)
    prompts = tokenizer(["red", "blue"], padding=True, return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        batch = torch.randperm(len(pool), generator=generator)[:16]
        logits = model(**prompts, pixel_values=pixels[batch]).logits_per_image
        loss = torch.nn.functional.cross_entropy(logits, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
