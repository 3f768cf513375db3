"""Exchange with files and other tools: SBML, figures, tables."""
