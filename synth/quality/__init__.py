"""Quality filter: stages over the record contract, a ledger of every drop, the funnel and score report."""
