"""Progress messages that follow Keras' own logging switch."""

import keras
from absl import logging


def say(message, below_progress_bar=False):
    """Prints `message` like Keras' progress output: to stdout, or to the
    absl log once `keras.config.disable_interactive_logging()` was called.
    `below_progress_bar` starts a new line first (inside `fit`, the bar's
    line is still open).

    >>> say("TargetRatio: holding the final masks", below_progress_bar=True)
    """
    if keras.config.is_interactive_logging_enabled():
        print(f"\n{message}" if below_progress_bar else message, flush=True)
    else:
        logging.info(message)
