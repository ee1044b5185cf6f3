"""12345 政务服务便民热线 tickets (工单): 投诉, 建议, 咨询, 求助, routed to a department that accepts and answers them."""
