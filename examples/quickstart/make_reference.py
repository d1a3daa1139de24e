"""Write reference.csv: the data the model was trained and validated on, with its predictions,
scores and outcomes, as pandas writes it. With your own model, export your validation set."""

import churn
import numpy as np
import pandas as pd

rng = np.random.default_rng(42)
df = pd.DataFrame(churn.customers(rng, 5000))
df["score"] = [churn.score(*row) for row in df[["tenure_months", "monthly_charges", "plan"]].values]
df["prediction"] = (df["score"] >= 0.5).astype(int)
df["label"] = [churn.outcome(rng, p) for p in df["score"]]
df.to_csv("reference.csv", index=False)
print(f"reference.csv: {len(df)} rows")
