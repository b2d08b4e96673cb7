"""Points of a time series: the Point record and its checks, columns, and stored point identities."""
