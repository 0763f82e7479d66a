"""Task 6: the delivery lab with LIVEKIT_URL exported (a server on this machine), then with impairment.

Run: python task_6_lab.py (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET exported)
"""

import asyncio
import os

import lk_notebook as lk
from lk_notebook.lab import Impairment, measure


async def main() -> None:
    assert os.environ.get("LIVEKIT_URL"), "export LIVEKIT_URL first (e.g. from `lk-notebook server`)"
    plain = await measure(modes=["reliable"], sizes=[200], rates=[200], duration=1, progress=False)
    row = plain.frame.iloc[0]
    assert row["received"] == row["sent"] > 0, row.to_dict()
    print(f"against LIVEKIT_URL: {row['sent']} sent, {row['received']} received")

    try:
        await measure(modes=["lossy"], sizes=[200], impairments=[Impairment(loss=0.1)], duration=1, progress=False)
    except lk.LabError as exc:
        assert "server=lk_notebook.LocalServer(relay=True)" in str(exc) and "on this machine" in str(exc), exc
        print("as expected:", exc)
    else:
        raise AssertionError("impairment on a server the lab did not start")

    impaired = await measure(
        server=lk.LocalServer(relay=True),  # what the error said to pass
        modes=["lossy"],
        sizes=[200],
        rates=[200],
        impairments=[Impairment(loss=0.2, delay_ms=10)],
        duration=1.5,
        progress=False,
    )
    row = impaired.frame.iloc[0]
    assert 0.2 < row["loss_rate"] < 0.6, row.to_dict()  # 1 - 0.8**2 = 0.36 expected (both directions)
    print(f"with 20 % loss per datagram: loss rate {row['loss_rate']:.3f}")
    print("OK task 6")


if __name__ == "__main__":
    asyncio.run(main())
