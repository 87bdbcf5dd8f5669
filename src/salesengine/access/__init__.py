"""Who may do what: roles and their permissions, principals and their scope, the tokens
that authenticate them, and the scope as SQL over the read models.

An adapter like the reports: it keeps its tokens in the store's database and reads the
``deal_attributes`` read model; the domain and the application know nothing of it. The
principal's name is what a service records as the event's actor.
"""
