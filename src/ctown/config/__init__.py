"""The county's own configuration (县级配置): check, diff, propose, approve, roll back."""
