"""The permit domain: the rules of the law and the service-task operators that apply them."""
