"""What every report page shares: the style sheet, inlined figures, tables of numbers."""
