"""Credit evaluation (信用评价): scorecards, learned model, grades 五级十档, three-party review
(三方复核)."""
