"""The village notice board (信用公示栏, R-4.5): a printable A3 PDF and a public page per village,
naming only households that consented to publication, masked; each edition kept and on the
ledger."""
