"""Feedback and complaints (反馈与投诉, R-6.4, §7.4): one queue from the page, SMS, voice and the
village officer, routed to the region and role that must answer within 48 hours, escalated
when late; the on-time response rate is the service-response timeliness of 三率一效."""
