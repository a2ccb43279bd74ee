"""Building blocks of the recipes: data and model loading by name, output safety, result reports."""
