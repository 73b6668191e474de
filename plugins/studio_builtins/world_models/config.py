"""The settings of the World Models stages (V, M and C); light (no torch) so discovery can name them."""

from dataclasses import dataclass, field


@dataclass
class WorldVAEConfig:
    """V: a convolutional VAE on 64x64 RGB frames of the rollouts, as in Ha & Schmidhuber's paper."""

    latent_dim: int = 32  #: the size of z, the compressed frame M and C see
    image_size: int = 64  #: the frames are stored at 64x64; the encoder halves it four times
    width: int = 32  #: channels of the first convolution, doubling down the encoder (the paper's 32)
    batch_size: int = 64
    learning_rate: float = 1e-3
    kl_weight: float = 1.0  #: weight of the KL term against the reconstruction error
    frames_per_episode: int = 0  #: frames sampled per episode and epoch (0: all of them)
    kl_tolerance: float = 0.5  #: the KL counts at least this many nats per latent dimension (the paper's free bits)
    episodes_in_memory: int = 32  #: episodes held at once while training (about 12 MB per 1000 frames)


@dataclass
class MDNRNNConfig:
    """M: an LSTM predicting a mixture of Gaussians over the next latent, plus reward and done."""

    hidden: int = 256  #: LSTM units; h is the other half of what C sees
    gaussians: int = 5  #: mixture components per latent dimension
    seq_len: int = 32  #: steps per training sequence (truncated backpropagation through time)
    batch_size: int = 16  #: sequences per batch
    learning_rate: float = 1e-3
    temperature: float = 1.0  #: tau: above 1 the dream is more uncertain (and harder to exploit)
    reward_weight: float = 1.0  #: weight of the reward head's squared error in the loss
    done_weight: float = 1.0  #: weight of the done head's binary cross-entropy in the loss
    latent_dim: int = 32  #: the size of V's z; the trainer sets it from the V it is built on
    vae_width: int = 32  #: V's width (see WorldVAEConfig.width); the trainer sets it from the V it is built on


@dataclass
class ControllerConfig:
    """C: a linear map [z, h] -> (steering, gas, brake), evolved with CMA-ES."""

    population: int = 16  #: candidates per CMA-ES generation
    rollouts_per_candidate: int = 4  #: each candidate's score is its mean over this many rollouts
    sigma0: float = 0.1  #: CMA-ES's initial step size
    workers: int = 2  #: processes scoring candidates in parallel (each holds an env or a dream)
    in_dream: bool = True  #: score candidates inside M's dream (True) or in the real CarRacing (False)
    max_steps: int = 300  #: steps per scoring rollout
    temperature: float = 1.15  #: tau of the dream while evolving (the paper's Doom setting)
    use_memory: bool = True  #: C sees [z, h]; False: z alone (the paper's V-only baseline, 99 parameters)
    #: M's config as JSON, filled in by the trainer from the MDN-RNN it is built on, so a checkpoint rebuilds M
    memory_json: str = field(default="", metadata={"learned": True})
