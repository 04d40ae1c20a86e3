"""`gateway replay`: what a candidate policies folder would have done with recorded traffic."""
