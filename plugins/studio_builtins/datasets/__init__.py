"""Built-in dataset sources: images from folders, IDX files, Fashion-MNIST and
scikit-learn's digits; text from a file, a folder, or the bundled Shakespeare excerpt; music from
music21's Bach chorales, a MIDI folder or file, or the JSB chorales JSON."""

from studio import hookimpl
from studio.core.specs import DatasetSourceSpec

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_IMAGES = "studio.core.data.images"
_TEXT = "studio.core.data.text"
_MUSIC = "studio.core.data.music"


@hookimpl
def studio_register_dataset_sources(register):
    register(DatasetSourceSpec(
        name="fashion-mnist", title="Fashion-MNIST", kind="images",
        loader=f"{_IMAGES}:load_fashion_mnist", available=f"{_IMAGES}:fashion_mnist_available",
        description="70,000 28x28 greyscale clothes in 10 classes (Debian's dataset-fashion-mnist)",
    ))
    register(DatasetSourceSpec(
        name="fashion-mnist-sample", title="Fashion-MNIST sample", kind="images",
        loader=f"{_IMAGES}:load_fashion_mnist_sample",
        description="3,000 of Fashion-MNIST's held-out test images, shipped with the studio (the starter VAE's "
                    "map); small, for trying things out",
    ))
    register(DatasetSourceSpec(
        name="digits", title="Handwritten digits (scikit-learn)", kind="images",
        loader=f"{_IMAGES}:load_digits",
        description="1,797 8x8 greyscale digits in 10 classes, bundled with scikit-learn",
    ))
    register(DatasetSourceSpec(
        name="image-folder", title="Folder of images", kind="images", needs_location=True,
        loader=f"{_IMAGES}:load_folder",
        description="PNG and JPEG files, searched recursively; sub-folder names become labels",
    ))
    register(DatasetSourceSpec(
        name="idx", title="IDX files (MNIST format)", kind="images", needs_location=True,
        loader=f"{_IMAGES}:load_idx",
        description="An images IDX file (optionally gzipped); a labels file beside it is used if found",
    ))
    register(DatasetSourceSpec(
        name="text-file", title="Text file", kind="text", needs_location=True,
        loader=f"{_TEXT}:load_text_file", description="One UTF-8 text file",
    ))
    register(DatasetSourceSpec(
        name="text-folder", title="Folder of text files", kind="text", needs_location=True,
        loader=f"{_TEXT}:load_text_folder", description="Every .txt and .md file in a folder, recursively",
    ))
    register(DatasetSourceSpec(
        name="shakespeare", title="Shakespeare (bundled excerpt)", kind="text",
        loader=f"{_TEXT}:load_shakespeare",
        description="An excerpt of Shakespeare's plays shipped with the studio (public domain)",
    ))
    register(DatasetSourceSpec(
        name="bach-chorales", title="Bach chorales (music21)", kind="music",
        loader=f"{_MUSIC}:load_bach_chorales",
        description="369 four-part chorales bundled with music21 (soprano, alto, tenor, bass); the first load "
                    "converts them (about half a minute) and keeps them in the cache folder",
    ))
    register(DatasetSourceSpec(
        name="midi-folder", title="Folder of MIDI files", kind="music", needs_location=True,
        loader=f"{_MUSIC}:load_midi_folder",
        description="Every .mid and .midi file in a folder, recursively; unreadable files are skipped and listed",
    ))
    register(DatasetSourceSpec(
        name="midi-file", title="MIDI file", kind="music", needs_location=True,
        loader=f"{_MUSIC}:load_midi_file", description="One MIDI file (type 0 or 1)",
    ))
    register(DatasetSourceSpec(
        name="jsb-chorales", title="JSB chorales (JSON)", kind="music", needs_location=True,
        loader=f"{_MUSIC}:load_jsb_json",
        description="Jsb16thSeparated.json: 382 four-part chorales in 16th-note steps with their own "
                    "train/valid/test split",
    ))
