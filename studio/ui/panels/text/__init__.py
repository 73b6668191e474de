"""Parts of the Text Composer panel: the editor that streams tokens, the sampling
controls, the alternatives row and the attention view. The work a request does on
the inference thread lives in :mod:`.generation`, which imports no Qt."""
