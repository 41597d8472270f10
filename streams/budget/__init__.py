"""`helpstream budget`: when is a model too big? Each model x backend measured per pattern, with a verdict."""
