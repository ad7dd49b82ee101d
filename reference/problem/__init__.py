"""The problem's vocabulary: sizes, canonical inputs, named shapes and the tutorial's constants."""
