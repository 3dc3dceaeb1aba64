"""services/ orchestrate one API call each: resolve parts, check limits, count tokens, call the
engine or storage. No HTTP here: inputs are typed requests, outputs typed results."""
