"""Other programs' configs that team-table writes into (connect), exactly and removably."""
