"""A small speed check of this machine, used by the set-up notebook (``00_setup``)."""
from __future__ import annotations

import time

import matplotlib.pyplot as plt
import pandas as pd
import torch


def conv_throughput(device: torch.device | str = "cpu", repeats: int = 10, batch: int = 128,
                    threads: tuple[int, ...] | None = None) -> pd.DataFrame:
    """Images/s through one 3x3 conv (8->16 channels, 48x48), forward only, for each thread count."""
    device = torch.device(device)
    original = torch.get_num_threads()
    threads = threads or tuple(sorted({1, original}))
    conv = torch.nn.Conv2d(8, 16, 3, padding=1).to(device)
    x = torch.randn(batch, 8, 48, 48, device=device)
    rows = []
    try:
        for n in threads:
            torch.set_num_threads(n)
            with torch.no_grad():
                conv(x)  # warm-up
                start = time.perf_counter()
                for _ in range(repeats):
                    conv(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
            rows.append({"threads": n, "img_per_s": batch * repeats / seconds})
    finally:
        torch.set_num_threads(original)
    return pd.DataFrame(rows)


def plot_throughput(table: pd.DataFrame):
    """Bar chart of :func:`conv_throughput`'s table."""
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(table["threads"].astype(str), table["img_per_s"], color="#4c72b0")
    ax.set_xlabel("torch threads")
    ax.set_ylabel("images / s")
    ax.set_title("one 3x3 conv, 48x48, batch 128")
    fig.tight_layout()
    return fig
