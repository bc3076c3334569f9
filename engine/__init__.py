"""Generic workflow runtime around SpiffWorkflow. Knows nothing of permits."""
