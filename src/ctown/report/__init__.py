"""The credit report and what is read across the platform (信用报告与回执): the bank's report under
the farmer's consent, the data provided under the separate consent, the household's page with its
ledger receipts, the audit page. It sits above scoring and the ledger, which it reads."""
