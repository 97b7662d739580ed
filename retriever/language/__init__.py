"""Language rules: everything English-specific the answer path still needs (question words,
expected answer types, dates, amounts, quantities) lives in one module per language."""
